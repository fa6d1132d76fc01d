// Multi-step work that must leave nothing half-made: each step registers how to undo itself; on failure
// the undos run newest first, on success they are dropped.

export class UndoStack {
  private readonly steps: Array<() => Promise<unknown> | unknown> = [];

  push(undo: () => Promise<unknown> | unknown): void {
    this.steps.push(undo);
  }

  /** Runs every undo, newest first; one that fails does not stop the others. Returns their errors. */
  async unwind(): Promise<unknown[]> {
    const errors: unknown[] = [];
    while (this.steps.length > 0) {
      const undo = this.steps.pop()!;
      try {
        await undo();
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }

  dismiss(): void {
    this.steps.length = 0;
  }
}
