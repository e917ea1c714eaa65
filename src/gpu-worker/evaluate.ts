// Evaluation of a trained head on the validation split: confusion matrix, per-class
// precision/recall/F1, and which images it got wrong.

export interface ClassReport {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface Evaluation {
  readonly accuracy: number;
  /** confusion[true][predicted] */
  readonly confusion: number[][];
  readonly perClass: ClassReport[];
  readonly misclassified: {
    readonly id: string;
    readonly label: string;
    readonly predicted: string;
  }[];
}

/**
 * @example
 * const report = evaluatePredictions(logits, val.y, classes, valIds);
 */
export function evaluatePredictions(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classes: readonly string[],
  ids: readonly string[],
): Evaluation {
  const c = classes.length;
  const confusion = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  const misclassified: Evaluation['misclassified'][number][] = [];
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let predicted = 0;
    for (let j = 1; j < c; j++) if (logits[i * c + j]! > logits[i * c + predicted]!) predicted = j;
    const label = labels[i]!;
    confusion[label]![predicted]!++;
    if (predicted === label) correct++;
    else
      misclassified.push({ id: ids[i]!, label: classes[label]!, predicted: classes[predicted]! });
  }
  const perClass = classes.map((label, k) => {
    const tp = confusion[k]![k]!;
    const predictedK = confusion.reduce((n, row) => n + row[k]!, 0);
    const support = confusion[k]!.reduce((n, v) => n + v, 0);
    const precision = predictedK === 0 ? 0 : tp / predictedK;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label, precision, recall, f1, support };
  });
  return {
    accuracy: labels.length === 0 ? 0 : correct / labels.length,
    confusion,
    perClass,
    misclassified,
  };
}
