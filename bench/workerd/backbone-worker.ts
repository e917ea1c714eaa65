// Benchmark-only Worker: loads a model sent by bench/backbone.ts and runs it on request,
// through the same onnxruntime-web adapter the edge uses.
import { createEdgeSession, type EdgeSession } from '../../src/edge/classification/onnx-backend.js';

const sessions = new Map<string, EdgeSession>();

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const id = url.searchParams.get('id') ?? '';
    if (url.pathname === '/load') {
      sessions.set(id, await createEdgeSession(await request.arrayBuffer()));
      return new Response('loaded');
    }
    if (url.pathname === '/run') {
      const session = sessions.get(id);
      if (!session) return new Response(`no session ${id}`, { status: 404 });
      const iterations = Number(url.searchParams.get('iterations') ?? '1');
      const data = new Float32Array(await request.arrayBuffer());
      let checksum = 0;
      for (let i = 0; i < iterations; i++) {
        const out = await session.run({ pixel_values: { data, dims: [1, 3, 224, 224] } }, [
          'embedding',
        ]);
        checksum += out.embedding!.data[0]!;
      }
      return Response.json({ checksum });
    }
    return new Response('not found', { status: 404 });
  },
} satisfies ExportedHandler;
