/**
 * Scanning the TV's QR code on the "Sign in a TV" page (shared/api/pairing.ts): the phone's camera in a
 * small viewfinder, decoded by the browser's BarcodeDetector where it has one, by jsQR otherwise.
 * Only this Authenticator's own pair links (`{origin}{BaseUrl}/JellyfinSecurity/app/#/pair?code=…`, what
 * the big-screen page and PairDeviceQR encode) and bare codes are accepted; anything else is refused and
 * scanning goes on. The pure parts (payload check, frame decoding) are testable without a browser.
 */
import * as jsqrModule from 'jsqr';
import { parsePairCode } from '../../../shared/api/pairing.ts';

// jsqr is a CommonJS bundle: its function is the default export for the bundler, and default.default
// under Node's CommonJS interop (the unit tests).
type Decode = (data: Uint8ClampedArray, width: number, height: number, opts?: { inversionAttempts?: 'dontInvert' | 'onlyInvert' | 'attemptBoth' | 'invertFirst' }) => { data: string } | null;
const jsqrDefault = (jsqrModule as unknown as { default: Decode | { default: Decode } }).default;
const jsQR: Decode = typeof jsqrDefault === 'function' ? jsqrDefault : jsqrDefault.default;

export const NOT_OUR_CODE = 'This QR code is not a Jellyguard TV code';

/**
 * The pairing code a scanned QR payload carries, in its canonical form, or undefined when the payload is
 * not ours: a bare code ("123456", "AB23-CD45"), or a pair link on `origin` whose path ends with
 * `/JellyfinSecurity/app/` and whose fragment is `#/pair?code=…`.
 */
export function pairCodeFromPayload(payload: string, origin: string): string | undefined {
  const text = payload.trim();
  if (!text) return undefined;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) {
    // Only the code itself, nothing around it.
    if (!/^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$|^\d{6}$/.test(text)) return undefined;
    return parsePairCode(text)?.code;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.origin !== new URL(origin).origin) return undefined;
  if (url.username || url.password || url.search) return undefined;
  if (!url.pathname.endsWith('/JellyfinSecurity/app/')) return undefined;
  const m = /^#\/pair\?code=([^&#]*)$/.exec(url.hash);
  if (!m) return undefined;
  let code: string;
  try {
    code = decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
  return parsePairCode(code)?.code;
}

/** Decode a QR code from RGBA pixels (ImageData.data) with jsQR; null when there is none. */
export function decodeQrPixels(data: Uint8ClampedArray, width: number, height: number): string | null {
  const found = jsQR(data, width, height, { inversionAttempts: 'attemptBoth' });
  return found ? found.data : null;
}

// ── The scanner ─────────────────────────────────────────────────────────────────────────────────────

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<DetectedBarcode[]>;
}
interface BarcodeDetectorClass {
  new (opts: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats?(): Promise<string[]>;
}

/** Why the camera could not be used, in words for people. */
export function cameraErrorMessage(err: unknown): string {
  const name = err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err) ? String((err as { name: unknown }).name) : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'The camera is not allowed for this app. Allow it in the browser’s site settings, or type the code the TV shows.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'NoCamera') {
    return 'This device has no camera that can be used. Type the code the TV shows instead.';
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return 'The camera is busy (another app may be using it). Close it and try again, or type the code the TV shows.';
  }
  return 'The camera could not be started. Type the code the TV shows instead.';
}

export interface QrScannerEvents {
  /** A payload that is ours: the canonical code. Scanning has stopped. */
  onCode(code: string): void;
  /** A QR code that is not ours was seen (scanning goes on). */
  onForeign(payload: string): void;
}

/**
 * The camera and the decode loop. `start(video)` asks for the back camera and shows it in `video`;
 * decoding runs a few times a second until a code of ours is read, then the camera stops. `stop()` (on
 * cancel or when the page goes away) releases the camera at once.
 */
export class QrScanner {
  #stream: MediaStream | null = null;
  #video: HTMLVideoElement | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #canvas: HTMLCanvasElement | null = null;
  #detector: BarcodeDetectorLike | null = null;
  #running = false;
  #busy = false;
  #lastForeign = '';

  constructor(
    private readonly origin: string,
    private readonly events: QrScannerEvents,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  /** Throws (a DOMException or Error) when the camera cannot be opened; the caller explains it. */
  async start(video: HTMLVideoElement): Promise<void> {
    this.stop();
    if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('no camera'), { name: 'NoCamera' });
    this.#running = true;
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    if (!this.#running) {
      // Cancelled while the browser was asking.
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    this.#stream = stream;
    this.#video = video;
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    await video.play().catch(() => undefined);
    this.#detector = await makeDetector();
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#stream) for (const t of this.#stream.getTracks()) t.stop();
    this.#stream = null;
    if (this.#video) this.#video.srcObject = null;
    this.#video = null;
    this.#lastForeign = '';
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const video = this.#video;
    if (!this.#running || !video || this.#busy) return;
    this.#busy = true;
    try {
      if (video.readyState >= 2 && video.videoWidth > 0) {
        for (const payload of await this.#read(video)) {
          if (!this.#running) return;
          const code = pairCodeFromPayload(payload, this.origin);
          if (code) {
            this.stop();
            this.events.onCode(code);
            return;
          }
          if (payload !== this.#lastForeign) {
            this.#lastForeign = payload;
            this.events.onForeign(payload);
          }
        }
      }
    } catch {
      // A frame that could not be read: try the next one.
    } finally {
      this.#busy = false;
    }
    this.#schedule(200);
  }

  async #read(video: HTMLVideoElement): Promise<string[]> {
    if (this.#detector) {
      try {
        return (await this.#detector.detect(video)).map((b) => b.rawValue);
      } catch {
        this.#detector = null; // fall back to jsQR from now on
      }
    }
    const scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
    const w = Math.round(video.videoWidth * scale);
    const h = Math.round(video.videoHeight * scale);
    const canvas = (this.#canvas ??= document.createElement('canvas'));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) return [];
    ctx.drawImage(video, 0, 0, w, h);
    const text = decodeQrPixels(ctx.getImageData(0, 0, w, h).data, w, h);
    return text === null ? [] : [text];
  }
}

async function makeDetector(): Promise<BarcodeDetectorLike | null> {
  const Detector = (globalThis as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector;
  if (!Detector) return null;
  try {
    if (Detector.getSupportedFormats && !(await Detector.getSupportedFormats()).includes('qr_code')) return null;
    return new Detector({ formats: ['qr_code'] });
  } catch {
    return null;
  }
}
