// Which epoch a trainer keeps and when it stops early: one rule for linear heads and for
// fine-tuned tails. The best epoch has the highest validation accuracy, ties going to the lower
// loss; early stopping watches accuracy alone (patience epochs without a gain above minDelta).

export interface ValidationScore {
  readonly accuracy: number;
  readonly loss: number;
}

/** Whether `a` beats `b`: higher accuracy, or equal accuracy and lower loss. */
export const scoresBetter = (a: ValidationScore, b: ValidationScore): boolean =>
  a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss);

/**
 * The index of the best score (the first of equals).
 *
 * @example
 * bestScoreIndex([{ accuracy: 0.9, loss: 0.3 }, { accuracy: 0.9, loss: 0.2 }]); // 1
 */
export function bestScoreIndex(scores: readonly ValidationScore[]): number {
  let best = 0;
  scores.forEach((s, i) => {
    if (scoresBetter(s, scores[best]!)) best = i;
  });
  return best;
}

/**
 * Tracks the kept epoch (with a snapshot of what it trained) and early stopping.
 *
 * @example
 * const keeper = new EpochKeeper(snapshot(), cfg.earlyStopping);
 * for (…) if (keeper.record(epoch, set, evaluation, snapshot)) break;
 * return { params: keeper.best.value, bestEpoch: keeper.best.epoch, stoppedEarly: keeper.stoppedEarly };
 */
export class EpochKeeper<T> {
  best: { value: T; epoch: number; set: number } & ValidationScore;
  stoppedEarly = false;
  private bestForPatience = -1;
  private sinceImprovement = 0;

  constructor(
    initial: T,
    private readonly earlyStopping: { readonly patience: number; readonly minDelta: number } | null,
  ) {
    this.best = { value: initial, epoch: 1, set: 0, accuracy: -1, loss: Infinity };
  }

  /** Records an epoch's score; `snapshot` runs only when it becomes the best. True: stop now. */
  record(epoch: number, set: number, score: ValidationScore, snapshot: () => T): boolean {
    if (scoresBetter(score, this.best))
      this.best = { value: snapshot(), epoch, set, accuracy: score.accuracy, loss: score.loss };
    if (score.accuracy > this.bestForPatience + (this.earlyStopping?.minDelta ?? 0)) {
      this.bestForPatience = score.accuracy;
      this.sinceImprovement = 0;
    } else this.sinceImprovement++;
    this.stoppedEarly =
      this.earlyStopping !== null && this.sinceImprovement >= this.earlyStopping.patience;
    return this.stoppedEarly;
  }
}
