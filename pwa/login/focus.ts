/** Focus an element when it appears (keyboards, TV remotes and screen readers land on the next thing to do). */
export function focusOnMount(node: HTMLElement, when: boolean = true): void {
  if (when) queueMicrotask(() => node.focus());
}
