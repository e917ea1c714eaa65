// Edge entry point: the Hono app (routes and middleware live in app.ts).
import { app } from './app.js';

export default app satisfies ExportedHandler<import('./env.js').Env>;
