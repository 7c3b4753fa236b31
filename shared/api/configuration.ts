import { z } from 'zod';

/**
 * The gateway's own settings, read and changed by an administrator (the settings console in the
 * Authenticator's Admin area). Every path is under `{BaseUrl}/JellyfinSecurity/`.
 *
 *   GET  Configuration    → ConfigurationView: every key with its effective value, where the value came
 *                           from, its description and its JSON Schema (both taken from the one config schema,
 *                           server/config/schema.ts), secrets redacted.
 *   POST Configuration    ConfigurationUpdate → ConfigurationSaved. A step-up action (ChangeGatewaySettings).
 *                           Validated whole by the same schema: one invalid value refuses everything with a 400
 *                           `invalid_configuration` naming the key (`detail.key`), and nothing is written.
 *                           Written atomically to the YAML file, keeping the admin's comments; keys that can
 *                           change while running take effect at once, the others are listed as needing a restart.
 *                           Keys set by an environment variable are read-only (409 `read_only_setting`).
 */

/** How the console groups the settings (one heading each). */
export const CONFIG_GROUPS = ['connection', 'signIn', 'stepUp', 'guard', 'network', 'approvals', 'pairing', 'sso', 'operations', 'audit'] as const;
export type ConfigGroup = (typeof CONFIG_GROUPS)[number];

/** A group's heading where a person reads it. */
export const CONFIG_GROUP_LABELS: Record<ConfigGroup, string> = {
  connection: 'Jellyfin and the gateway',
  signIn: 'Sign-in factors',
  stepUp: 'Confirming admin actions',
  guard: 'Brute-force guard',
  network: 'Network and addresses',
  approvals: 'Push and approvals',
  pairing: 'TV pairing',
  sso: 'Single sign-on (OIDC)',
  operations: 'Operations',
  audit: 'Audit log',
};

/** Where a key's effective value comes from. */
export const ConfigSourceSchema = z.enum(['file', 'environment', 'default']);
export type ConfigSource = z.infer<typeof ConfigSourceSchema>;

export const ConfigKeySchema = z.object({
  /** The key as written in config.yaml ("MaxFailedAttempts"). */
  key: z.string(),
  group: z.enum(CONFIG_GROUPS),
  /** What it does, from the schema (one place for the words). */
  description: z.string(),
  /**
   * The effective value: what the gateway runs with, or, for a key in `pendingRestart`, what it will run
   * with after its restart. For a secret always null (see `isSet`); secret fields inside (`secretPaths`)
   * null too. Unset optional keys: null.
   */
  value: z.unknown(),
  source: ConfigSourceSchema,
  /** A secret (API key, metrics token): write-only, never shown. The value is null; `isSet` says whether
   *  there is one. In a POST, null removes it (back to the default); not naming the key keeps it. */
  secret: z.boolean(),
  /**
   * Secret fields INSIDE the value, as dot paths relative to the value, `*` for every array item
   * (SMTP → ["Password"], OIDCProviders → ["*.ClientSecret"]; [] for most keys). In the view those fields
   * are null. In a POST a null (or missing) nested secret keeps the current value, so the console can send
   * back what it was shown; an array item keeps the secret of the item at the same position.
   */
  secretPaths: z.array(z.string()),
  /** Whether a secret (or an optional key) has a value at all. */
  isSet: z.boolean(),
  /**
   * Set by an environment variable, or taken from one by `${NAME}` in the file: not editable here
   * (a POST naming it answers 409 `read_only_setting`). A `${NAME}` inside a secret field (an OIDC
   * ClientSecret) does not make the key read-only: that field is kept as written when posted null.
   */
  readOnly: z.boolean(),
  /** Why it is read-only, in words (null when editable). */
  readOnlyReason: z.string().nullable(),
  /** A change takes effect only after the gateway restarts (false: applied at once). */
  restartRequired: z.boolean(),
  /** The value's JSON Schema (type, enum, minimum, maximum, items, properties…), for checking before submit. */
  schema: z.record(z.string(), z.unknown()),
});
export type ConfigKey = z.infer<typeof ConfigKeySchema>;

export const ConfigurationViewSchema = z.object({
  /** The YAML file changes are written to (null: none yet; POST creates $JELLYGUARD_DATA_DIR/config.yaml). */
  file: z.string().nullable(),
  keys: z.array(ConfigKeySchema),
  /** Keys changed since the gateway started that wait for a restart. */
  pendingRestart: z.array(z.string()),
});
export type ConfigurationView = z.infer<typeof ConfigurationViewSchema>;

export const ConfigurationUpdateSchema = z.object({
  /**
   * Key → new value; send only the keys that change. null: back to the default (the key is removed from
   * the file). Keys not named keep their value. A whole value replaces the old one, except its secret
   * fields (`secretPaths`) left null or out, which keep theirs. Unknown keys: 400 naming them.
   */
  values: z.record(z.string().min(1).max(100), z.unknown()).refine((v) => Object.keys(v).length > 0, 'name at least one key'),
});
export type ConfigurationUpdate = z.infer<typeof ConfigurationUpdateSchema>;

/**
 * The `detail` of a refused POST. 400 `invalid_configuration`: `key` (the top-level key to point at),
 * `path` ("SMTP.Host", "OIDCProviders.0.ClientSecret") and every `problems` found, or for unknown keys
 * `keys`. 409 `read_only_setting`: `key`. The message names the key too.
 */
export const ConfigurationRefusalDetailSchema = z.object({
  key: z.string(),
  path: z.string().optional(),
  keys: z.array(z.string()).optional(),
  problems: z.array(z.object({ key: z.string(), path: z.string(), message: z.string() })).optional(),
});
export type ConfigurationRefusalDetail = z.infer<typeof ConfigurationRefusalDetailSchema>;

export const ConfigurationSavedSchema = z.object({
  /** Keys that changed and already took effect. */
  applied: z.array(z.string()),
  /** Keys that changed and take effect after a restart. */
  restartRequired: z.array(z.string()),
  view: ConfigurationViewSchema,
});
export type ConfigurationSaved = z.infer<typeof ConfigurationSavedSchema>;
