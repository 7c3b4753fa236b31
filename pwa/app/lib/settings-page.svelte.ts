/**
 * The settings console's state (shared/api/configuration.ts): the gateway's view of every key, the
 * admin's edits (drafts), what is wrong with them (checked with each key's JSON Schema before sending),
 * and saving only the changed keys behind the step-up prompt. The page (pages/Settings.svelte) renders it.
 */
import { CONFIG_GROUPS, ConfigurationRefusalDetailSchema, type ConfigGroup, type ConfigKey, type ConfigurationView } from '../../../shared/api/configuration.ts';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { ApiError, call } from './api.ts';
import { messageOf } from './handle-error.ts';
import { canonical, check, kindOf, pathMatches, sentence, type JsonSchema, type Problem } from './json-schema.ts';
import { StepUpCancelled, withStepUp } from './stepup.svelte.ts';

export const loadConfiguration = () => call(ENDPOINTS.Configuration);
export const saveConfiguration = (values: Record<string, unknown>, headers: Record<string, string>) =>
  call(ENDPOINTS.ConfigurationUpdate, { body: { values }, headers });

/** What the last save did, in the gateway's words (keys). */
export interface SaveResult {
  applied: string[];
  restartRequired: string[];
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/**
 * A key's draft. For a secret key (never sent to the app): undefined keeps it, a string replaces it, null
 * removes it. For the others: the value being edited (a copy of the effective one to begin with).
 */
export class SettingsPage {
  view = $state<ConfigurationView | null>(null);
  drafts = $state<Record<string, unknown>>({});
  /** "Reset to default" was pressed (the key is sent as null while its draft still equals the default). */
  resetting = $state<Record<string, boolean>>({});
  /** Where each item of a list of sub-forms came from (its index in the saved list; null: added here). */
  origins = $state<Record<string, (number | null)[]>>({});
  /** Keys whose problems are shown (left once, or a save was tried). */
  touched = $state<Record<string, boolean>>({});
  /** The gateway's refusal of the last save, next to the key it named. */
  serverErrors = $state<Record<string, string>>({});
  loadError = $state<string | null>(null);
  saveError = $state<string | null>(null);
  saved = $state<SaveResult | null>(null);
  busy = $state(false);

  async load(): Promise<void> {
    try {
      this.#take(await loadConfiguration());
      this.loadError = null;
    } catch (err) {
      this.loadError = messageOf(err);
    }
  }

  #take(view: ConfigurationView): void {
    this.view = view;
    this.drafts = Object.fromEntries(view.keys.map((k) => [k.key, k.secret ? undefined : clone(k.value)]));
    this.origins = Object.fromEntries(view.keys.filter((k) => Array.isArray(k.value)).map((k) => [k.key, (k.value as unknown[]).map((_, i) => i)]));
    this.resetting = {};
    this.touched = {};
    this.serverErrors = {};
  }

  keyOf(name: string): ConfigKey | undefined {
    return this.view?.keys.find((k) => k.key === name);
  }

  /** The keys under each group heading, in the gateway's order; empty groups left out. */
  get groups(): Array<{ group: ConfigGroup; keys: ConfigKey[] }> {
    const keys = this.view?.keys ?? [];
    return CONFIG_GROUPS.map((group) => ({ group, keys: keys.filter((k) => k.group === group) })).filter((g) => g.keys.length > 0);
  }

  /** Whether saving would send this key. */
  changed(k: ConfigKey): boolean {
    const d = this.drafts[k.key];
    if (k.readOnly) return false;
    if (k.secret) return (typeof d === 'string' && d !== '') || (d === null && k.isSet);
    if (this.resetting[k.key] && k.source !== 'default' && canonical(d) === canonical(k.schema.default ?? null)) return true;
    return canonical(d ?? null) !== canonical(k.value ?? null);
  }

  get changedKeys(): ConfigKey[] {
    return (this.view?.keys ?? []).filter((k) => this.changed(k));
  }

  /** What is sent for a changed key: null puts it back to its default (out of the file). */
  #outgoing(k: ConfigKey): unknown {
    const d = this.drafts[k.key];
    if (k.secret) return d === '' ? undefined : d;
    if (this.resetting[k.key] && canonical(d) === canonical(k.schema.default ?? null)) return null;
    return d === undefined ? null : d;
  }

  /**
   * A nested secret left empty keeps the current one. The gateway finds "the current one" of a list item
   * by its `Id` (else by its position), so only an item that was there when the page loaded can keep it;
   * a new item, or one whose Id changed, needs its secret typed.
   */
  keepable(k: ConfigKey, path: string): boolean {
    if (!k.secretPaths.some((p) => pathMatches(p, path))) return false;
    if (kindOf(k.schema as JsonSchema) === 'objects') {
      const i = Number(path.split('.')[0]);
      const item = (this.drafts[k.key] as unknown[] | undefined)?.[i] as Record<string, unknown> | undefined;
      const saved = Array.isArray(k.value) ? (k.value as Array<Record<string, unknown> | null>) : [];
      if (typeof item?.Id === 'string') return saved.some((o) => o?.Id === item.Id);
      return this.origins[k.key]?.[i] === i;
    }
    return k.value !== null && k.value !== undefined;
  }

  /** What is wrong with a changed key's draft (nothing for an unchanged one: the gateway accepted it). */
  problems(k: ConfigKey): Problem[] {
    if (!this.changed(k)) return [];
    const v = this.#outgoing(k);
    if (v === null || v === undefined) return [];
    return check(k.schema as JsonSchema, v, { secretPaths: k.secretPaths, allowNullSecret: (p) => this.keepable(k, p) });
  }

  /** The problems to show at one path of a key, as sentences (the gateway's refusal at the key itself). */
  shownAt(k: ConfigKey, path: string): string[] {
    const out = this.touched[k.key] ? this.problems(k).filter((p) => p.path === path).map((p) => sentence(p.message)) : [];
    if (path === '' && this.serverErrors[k.key]) out.push(this.serverErrors[k.key]!);
    return out;
  }

  touch(key: string): void {
    this.touched[key] = true;
  }

  resetToDefault(k: ConfigKey): void {
    this.drafts[k.key] = k.secret ? null : clone(k.schema.default ?? null);
    if (kindOf(k.schema as JsonSchema) === 'objects') this.origins[k.key] = ((k.schema.default as unknown[] | undefined) ?? []).map(() => null);
    this.resetting[k.key] = true;
    this.touched[k.key] = true;
  }

  /** Put a key back as it is on the gateway. */
  undo(k: ConfigKey): void {
    this.drafts[k.key] = k.secret ? undefined : clone(k.value);
    if (Array.isArray(k.value)) this.origins[k.key] = k.value.map((_, i) => i);
    delete this.resetting[k.key];
    delete this.serverErrors[k.key];
  }

  undoAll(): void {
    for (const k of this.view?.keys ?? []) this.undo(k);
  }

  /**
   * Check every changed key, then send them — the gateway asks for a fresh proof first (step-up). Returns
   * the key to bring into view when something is wrong with one.
   */
  async save(): Promise<string | null> {
    const changed = this.changedKeys;
    this.saved = null;
    this.saveError = null;
    this.serverErrors = {};
    for (const k of changed) this.touched[k.key] = true;
    const wrong = changed.find((k) => this.problems(k).length > 0);
    if (wrong) {
      this.saveError = 'Fix the marked settings first: nothing was sent.';
      return wrong.key;
    }
    if (changed.length === 0) return null;
    const values = Object.fromEntries(changed.map((k) => [k.key, this.#outgoing(k) ?? null]));
    this.busy = true;
    try {
      const result = await withStepUp((headers) => saveConfiguration(values, headers));
      this.#take(result.view);
      this.saved = { applied: result.applied, restartRequired: result.restartRequired };
      return null;
    } catch (err) {
      if (err instanceof StepUpCancelled) {
        this.saveError = 'Not saved: the change was not confirmed.';
        return null;
      }
      // The gateway names the key it refused (detail.key) and lists every problem it found (detail.problems).
      const detail = err instanceof ApiError ? ConfigurationRefusalDetailSchema.safeParse(err.body.detail) : null;
      const key = detail?.success ? detail.data.key : null;
      if (key && this.keyOf(key)) {
        for (const p of detail?.data?.problems ?? []) {
          if (!this.keyOf(p.key) || p.key === key) continue;
          this.serverErrors[p.key] = sentence(`${p.path !== p.key ? `${p.path}: ` : ''}${p.message}`);
        }
        this.serverErrors[key] = err instanceof ApiError && err.message ? err.message : messageOf(err);
        this.saveError = 'The gateway refused a setting: nothing was changed.';
        return key;
      }
      this.saveError = messageOf(err);
      return null;
    } finally {
      this.busy = false;
    }
  }
}
