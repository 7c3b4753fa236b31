/** Short messages at the bottom of the screen ("Passkey renamed", "No connection"). */
export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(text: string, kind: Toast['kind'] = 'info', ms = 4000): void {
    const id = this.#next++;
    this.items = [...this.items.filter((t) => t.text !== text), { id, text, kind }];
    setTimeout(() => this.dismiss(id), ms);
  }

  /** Another page: the last page's messages are done. */
  clear(): void {
    if (this.items.length) this.items = [];
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
