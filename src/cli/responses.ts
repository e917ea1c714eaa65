// Schemas of the API answers the shared contract does not define as such (built from the
// shared schemas), so the client can check every answer.
import { z } from 'zod';
import { DatasetManifestSchema } from '../shared/datasets.js';
import { HeadManifestSchema, HeadSummarySchema } from '../shared/heads.js';
import { JOB_STATUSES, JobViewSchema } from '../shared/jobs.js';
import { BackboneManifestSchema } from '../shared/manifest.js';

/** What an upload (or GET /v1/datasets/{id}) answers: the manifest without its image list. */
export const DatasetReportSchema = DatasetManifestSchema.omit({ images: true, tenant: true })
  .extend({
    name: z.string(),
    imageCount: z.object({ train: z.number().int(), val: z.number().int() }),
  })
  .loose();
export type DatasetReport = z.infer<typeof DatasetReportSchema>;

export const DatasetListSchema = z.object({
  datasets: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      imageCount: z.number().nullable(),
      classCount: z.number().nullable(),
      createdAt: z.string(),
    }),
  ),
});
export type DatasetListing = z.infer<typeof DatasetListSchema>['datasets'][number];

export const SubmittedBatchSchema = z.object({ batchId: z.string(), jobs: z.array(JobViewSchema) });
export const BatchSchema = SubmittedBatchSchema.extend({
  counts: z.record(z.enum(JOB_STATUSES), z.number().int()),
});
export type BatchView = z.infer<typeof BatchSchema>;

export const HeadListSchema = z.object({
  heads: z.array(HeadSummarySchema),
  nextCursor: z.string().nullable(),
});
/** GET /v1/heads/{id}: the summary, the confusion matrix (matrix[true][predicted]), the manifest. */
export const HeadDetailSchema = HeadSummarySchema.extend({
  confusion: z
    .object({ labels: z.array(z.string()), matrix: z.array(z.array(z.number())) })
    .nullable(),
  manifest: HeadManifestSchema,
});
export type HeadDetail = z.infer<typeof HeadDetailSchema>;

/** POST /v1/backbones: the stored backbone's manifest and the name to use it by. */
export const ImportedBackboneSchema = BackboneManifestSchema.extend({ name: z.string() }).loose();
export type ImportedBackbone = z.infer<typeof ImportedBackboneSchema>;

/** GET /v1/backbones: the catalogue's backbones (with measured figures), then the tenant's own. */
export const BackboneListSchema = z.object({
  backbones: z.array(
    BackboneManifestSchema.omit({ id2label: true })
      .extend({
        name: z.string(),
        owner: z.enum(['catalogue', 'tenant']),
        numLabels: z.number().int(),
        measured: z
          .object({ edgeInferenceMs: z.number().nullable().optional() })
          .loose()
          .nullable()
          .optional(),
      })
      .loose(),
  ),
});
export type BackboneListing = z.infer<typeof BackboneListSchema>['backbones'][number];
