// zod schemas for the configs of the Keras layer kinds the converter understands.
import { z } from 'zod';

const pair = z
  .union([z.number().int(), z.tuple([z.number().int(), z.number().int()])])
  .transform((v): [number, number] => (typeof v === 'number' ? [v, v] : v));

const channelsLast = z.literal('channels_last').optional();

export const ActivationName = z.string();

const convCommon = {
  name: z.string(),
  kernel_size: pair,
  strides: pair.default([1, 1]),
  padding: z.enum(['same', 'valid']),
  dilation_rate: pair.default([1, 1]),
  use_bias: z.boolean().default(true),
  activation: ActivationName.default('linear'),
  data_format: channelsLast,
};

export const Conv2DConfig = z.object({
  ...convCommon,
  filters: z.number().int().min(1),
  groups: z.number().int().min(1).default(1),
});

export const DepthwiseConv2DConfig = z.object({
  ...convCommon,
  depth_multiplier: z.number().int().min(1).default(1),
});

export const BatchNormalizationConfig = z.object({
  name: z.string(),
  axis: z.union([z.number().int(), z.array(z.number().int()).length(1)]).default(-1),
  epsilon: z.number().positive().default(1e-3),
  center: z.boolean().default(true),
  scale: z.boolean().default(true),
});

export const ReLUConfig = z.object({
  name: z.string(),
  max_value: z.number().nullable().optional(),
  negative_slope: z.number().default(0),
  threshold: z.number().default(0),
});

export const ActivationConfig = z.object({ name: z.string(), activation: ActivationName });

export const ZeroPadding2DConfig = z.object({
  name: z.string(),
  padding: z.union([
    z.number().int().min(0).transform((p) => [[p, p], [p, p]] as const),
    z.tuple([z.number().int().min(0), z.number().int().min(0)]).transform(([h, w]) => [[h, h], [w, w]] as const),
    z.tuple([
      z.tuple([z.number().int().min(0), z.number().int().min(0)]),
      z.tuple([z.number().int().min(0), z.number().int().min(0)]),
    ]),
  ]),
  data_format: channelsLast,
});

export const GlobalAveragePooling2DConfig = z.object({
  name: z.string(),
  keepdims: z.boolean().default(false),
  data_format: channelsLast,
});

export const ReshapeConfig = z.object({
  name: z.string(),
  target_shape: z.array(z.number().int()).min(1),
});

export const DenseConfig = z.object({
  name: z.string(),
  units: z.number().int().min(1),
  use_bias: z.boolean().default(true),
  activation: ActivationName.default('linear'),
});

export const NamedConfig = z.object({ name: z.string() });

export const InputLayerConfig = z.object({
  name: z.string(),
  batch_input_shape: z.array(z.number().int().nullable()).optional(),
  batch_shape: z.array(z.number().int().nullable()).optional(),
});

/** Keras 2 inbound node reference: [layerName, nodeIndex, tensorIndex, kwargs?]. */
export const InboundNodes = z.array(
  z.array(z.tuple([z.string(), z.number().int(), z.number().int()]).rest(z.unknown())),
);

export const LayerRefs = z.array(z.tuple([z.string(), z.number().int(), z.number().int()]));

export const FunctionalConfig = z.object({
  name: z.string(),
  layers: z.array(z.unknown()),
  input_layers: LayerRefs,
  output_layers: LayerRefs,
});

export const SequentialConfig = z.union([
  z.object({ name: z.string().optional(), layers: z.array(z.unknown()) }),
  z.array(z.unknown()).transform((layers) => ({ name: undefined, layers })),
]);
