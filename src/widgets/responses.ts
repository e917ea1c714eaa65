// API answers the quiz, classifier and strategies widgets read, checked at the boundary; the
// types come from the checkers.
import { type Json, ResponseShapeError, list, nullable, num, record, str } from './check.js';

export interface PublicQuestion {
  readonly id: string;
  readonly prompt: string;
  readonly options: readonly { readonly id: string; readonly text: string }[];
}

/** GET /v1/lessons/{id} → the lesson's quiz without answers, or null when it has none. */
export function parseLessonQuiz(body: unknown): readonly PublicQuestion[] | null {
  const quiz = nullable(record(body, 'lesson').quiz, 'quiz', record);
  if (!quiz) return null;
  return list(quiz.questions, 'quiz.questions', (q, at) => {
    const question = record(q, at);
    return {
      id: str(question.id, `${at}.id`),
      prompt: str(question.prompt, `${at}.prompt`),
      options: list(question.options, `${at}.options`, (o, oat) => {
        const option = record(o, oat);
        return { id: str(option.id, `${oat}.id`), text: str(option.text, `${oat}.text`) };
      }),
    };
  });
}

export interface QuestionResult {
  readonly questionId: string;
  readonly chosen: string | null;
  readonly correct: boolean;
  /** Why the chosen option is right or wrong; null when the question was not answered. */
  readonly explanation: string | null;
}
export interface Grade {
  readonly score: number;
  readonly total: number;
  readonly results: readonly QuestionResult[];
}

/** POST /v1/lessons/{id}/quiz → the grade. */
export function parseGrade(body: unknown): Grade {
  const grade = record(body, 'grade');
  return {
    score: num(grade.score, 'score'),
    total: num(grade.total, 'total'),
    results: list(grade.results, 'results', (r, at) => {
      const result = record(r, at);
      if (typeof result.correct !== 'boolean')
        throw new ResponseShapeError(`${at}.correct is not a boolean`);
      return {
        questionId: str(result.questionId, `${at}.questionId`),
        chosen: nullable(result.chosen, `${at}.chosen`, str),
        correct: result.correct,
        explanation: nullable(result.explanation, `${at}.explanation`, str),
      };
    }),
  };
}

export interface Prediction {
  readonly label: string;
  readonly index: number;
  readonly score: number;
}
export interface ModelResult {
  readonly model: string;
  /** Which trained head answered, when `model` named one. */
  readonly headId: string | null;
  readonly predictions: readonly Prediction[];
}
export interface Classification {
  /** The answer as received (the `headstart:classified` event's detail). */
  readonly response: Json;
  /** One entry per model named, in order. */
  readonly results: readonly ModelResult[];
  readonly totalMs: number;
}

function modelResult(value: unknown, at: string): ModelResult {
  const result = record(value, at);
  const head = nullable(result.head, `${at}.head`, record);
  return {
    model: str(result.model, `${at}.model`),
    headId: head ? str(head.id, `${at}.head.id`) : null,
    predictions: list(result.predictions, `${at}.predictions`, (p, pat) => {
      const prediction = record(p, pat);
      return {
        label: str(prediction.label, `${pat}.label`),
        index: num(prediction.index, `${pat}.index`),
        score: num(prediction.score, `${pat}.score`),
      };
    }),
  };
}

/** POST /v1/classify → one model's answer, or `results` for several. */
export function parseClassification(body: unknown): Classification {
  const response = record(body, 'classification');
  const results = Array.isArray(response.results)
    ? list(response.results, 'results', modelResult)
    : [modelResult(response, 'classification')];
  const timings = record(response.timings, 'timings');
  return { response, results, totalMs: num(timings.totalMs, 'timings.totalMs') };
}

export interface BackboneBlock {
  readonly name: string;
  /** `classifier` is the source's own ImageNet head, not part of what a head is trained on. */
  readonly role: 'trunk' | 'classifier';
  readonly parameters: number;
  readonly trainableParameters: number;
}
export interface BackboneSummary {
  readonly id: string;
  readonly embeddingDim: number;
  /** Null when the manifest predates block lists. */
  readonly blocks: readonly BackboneBlock[] | null;
}

/** GET /v1/models/{id} → what the strategies widget draws. */
export function parseBackbone(body: unknown): BackboneSummary {
  const manifest = record(body, 'manifest');
  return {
    id: str(manifest.id, 'id'),
    embeddingDim: num(manifest.embeddingDim, 'embeddingDim'),
    blocks: nullable(manifest.blocks, 'blocks', (value, where) =>
      list(value, where, (b, at) => {
        const block = record(b, at);
        return {
          name: str(block.name, `${at}.name`),
          role: block.role === 'classifier' ? 'classifier' : 'trunk',
          parameters: num(block.parameters, `${at}.parameters`),
          trainableParameters: num(block.trainableParameters, `${at}.trainableParameters`),
        };
      }),
    ),
  };
}

/** One backbone of GET /v1/models, with what our benchmarks measured of it (null: not measured). */
export interface CatalogueEntry {
  readonly id: string;
  readonly displayName: string;
  readonly parameters: number;
  readonly embeddingDim: number;
  /** onnxruntime-web inside workerd, per image, ms. */
  readonly edgeMs: number | null;
  /** Validation accuracy of the default job on the two shared datasets. */
  readonly hymenoptera: number | null;
  readonly flowers: number | null;
}

/** GET /v1/models → the catalogue as the strategies widget compares it. */
export function parseCatalogue(body: unknown): readonly CatalogueEntry[] {
  return list(record(body, 'catalogue').models, 'models', (m, at) => {
    const model = record(m, at);
    const measured = nullable(model.measured, `${at}.measured`, record);
    const accuracy = measured
      ? nullable(measured.referenceAccuracy, `${at}.measured.referenceAccuracy`, record)
      : null;
    const orNull = (value: unknown, where: string) => nullable(value, where, num);
    return {
      id: str(model.id, `${at}.id`),
      displayName: str(model.displayName, `${at}.displayName`),
      parameters: num(model.parameters, `${at}.parameters`),
      embeddingDim: num(model.embeddingDim, `${at}.embeddingDim`),
      edgeMs: orNull(measured?.edgeInferenceMs, `${at}.measured.edgeInferenceMs`),
      hymenoptera: orNull(accuracy?.hymenoptera_data, `${at}.measured.referenceAccuracy`),
      flowers: orNull(accuracy?.flower_photos_subset, `${at}.measured.referenceAccuracy`),
    };
  });
}
