// What our benchmarks measured for each catalogue backbone (bench/results.json, bundled): the
// numbers GET /v1/models shows so a caller can choose a backbone by latency and accuracy.
import { BACKBONES } from '../../shared/backbones.js';
import { benchResults } from '../lessons/catalog.js';

/** The shared datasets the reference accuracies are measured on. */
export const REFERENCE_DATASETS = ['hymenoptera_data', 'flower_photos_subset'] as const;

export interface BackboneMeasurements {
  /** Inference per image in onnxruntime-web inside workerd (batch 1, median), ms. */
  readonly edgeInferenceMs: number | null;
  /** The same in onnxruntime-node on one thread, ms. */
  readonly nodeInferenceMs: number | null;
  /** Validation accuracy of the default job (feature extraction) per shared dataset. */
  readonly referenceAccuracy: Readonly<Record<(typeof REFERENCE_DATASETS)[number], number | null>>;
  /** When the newest of these was measured (YYYY-MM-DD). */
  readonly measuredOn: string | null;
}

/**
 * The benchmark figures of a catalogue backbone, or null for one imported later (nobody has
 * measured it here).
 *
 * @example
 * measurementsOf('mobilenet-v2-1.0')?.referenceAccuracy.hymenoptera_data; // 0.967
 */
export function measurementsOf(id: string): BackboneMeasurements | null {
  if (!BACKBONES.some((b) => b.id === id)) return null;
  const { figures } = benchResults();
  const dates: string[] = [];
  const value = (key: string): number | null => {
    const figure = figures[key];
    if (!figure) return null;
    dates.push(figure.date);
    return figure.value;
  };
  const train = (dataset: string) => value(`train.${dataset}.${id}.val_acc`);
  const measured = {
    edgeInferenceMs: value(`backbone.${id}.workerd_ms`),
    nodeInferenceMs: value(`backbone.${id}.node_ms`),
    referenceAccuracy: {
      hymenoptera_data: train('hymenoptera_data'),
      flower_photos_subset: train('flower_photos_subset'),
    },
  };
  return { ...measured, measuredOn: dates.sort().at(-1) ?? null };
}
