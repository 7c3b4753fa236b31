import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';

/**
 * Changing the admin's YAML file without losing what they wrote around the values: comments, key order,
 * quoting and blank lines stay (the `yaml` package's Document API). Only the nodes whose value changes are
 * touched, so a comment inside a list or on a line that did not change survives too. Only spacing is
 * normalised (one space before a trailing comment).
 */

type Path = (string | number)[];

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Remove one item of a mapping or list. The comment written above it usually introduces what follows
 * ("# Jellyguard settings" above the first key), so it moves to the next item; above the last, it goes with it.
 */
function removeItem(collection: YAMLMap | YAMLSeq, index: number): void {
  const item = collection.items[index];
  const head = isPair(item) ? item.key : item;
  const before = isNode(head) ? head.commentBefore : undefined;
  collection.items.splice(index, 1);
  if (!before) return;
  const next = collection.items[index];
  const target = isPair(next) ? next.key : next;
  if (!isNode(target)) return;
  // A blank line that set the next item apart now sets it apart from the moved comment.
  const gap = target.spaceBefore ? '\n' : '';
  target.commentBefore = target.commentBefore ? `${before}\n${gap}${target.commentBefore}` : `${before}${gap}`;
  target.spaceBefore = isNode(head) ? head.spaceBefore : undefined;
}

const keyOf = (item: unknown): unknown => (isPair(item) ? (isScalar(item.key) ? item.key.value : item.key) : undefined);

/** Put `value` at `at`, reusing the nodes that are already there (and their comments). */
function merge(doc: Document, at: Path, value: unknown): void {
  const node = doc.getIn(at, true);
  if (isMap(node) && isPlainObject(value)) {
    for (let i = node.items.length - 1; i >= 0; i--) {
      const k = keyOf(node.items[i]);
      if (typeof k !== 'string' || value[k] === undefined) removeItem(node, i);
    }
    for (const [k, v] of Object.entries(value)) if (v !== undefined) merge(doc, [...at, k], v);
    return;
  }
  if (isSeq(node) && Array.isArray(value)) {
    while (node.items.length > value.length) removeItem(node, node.items.length - 1);
    value.forEach((v, i) => (i < node.items.length ? merge(doc, [...at, i], v) : node.add(doc.createNode(v))));
    return;
  }
  if (isScalar(node) && (value === null || typeof value !== 'object')) {
    if (node.value !== value) {
      node.value = value;
      // A style chosen for the old value may not fit the new one (a plain 'yes' would read back as a string).
      if (typeof value !== 'string') node.type = undefined;
    }
    return;
  }
  doc.setIn(at, doc.createNode(value));
}

/**
 * The YAML text with these top-level keys changed: a value replaces the key's value (added at the end when
 * the key is new), null (or undefined) removes the key. Everything else is kept as written.
 */
export function changeYaml(text: string, changes: Record<string, unknown>): string {
  const doc: Document = parseDocument(text);
  if (doc.errors.length) throw new Error(`not valid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) doc.contents = doc.createNode({});
  const top = doc.contents;
  if (!isMap(top)) throw new Error('the file must be a mapping of keys to values');
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined) {
      const i = top.items.findIndex((item) => keyOf(item) === key);
      if (i >= 0) removeItem(top, i);
    } else merge(doc, [key], value);
  }
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/**
 * Replace a file in one step: the new text goes to a temporary file in the same directory, is flushed to
 * disk, then renamed over the old one, so a crash leaves either the old file or the new, never half of one.
 * The file may hold secrets: it is readable by its owner only (0600).
 */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    try {
      closeSync(fd);
    } catch {
      // closed above
    }
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable once the directory is flushed (best effort: not every platform allows it).
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // e.g. Windows cannot open a directory
  }
}
