/** One question at a time in an in-app dialog ("Remove this passkey?"), answered by the ConfirmDialog component. */
export interface Question {
  title: string;
  body?: string;
  confirm: string;
  cancel?: string;
  danger?: boolean;
}

class Confirmer {
  open = $state<(Question & { resolve: (ok: boolean) => void }) | null>(null);

  ask(q: Question): Promise<boolean> {
    this.open?.resolve(false);
    return new Promise((resolve) => {
      this.open = { ...q, resolve };
    });
  }

  answer(ok: boolean): void {
    const q = this.open;
    this.open = null;
    q?.resolve(ok);
  }
}

export const confirmer = new Confirmer();
export const ask = (q: Question) => confirmer.ask(q);
