/** The `allocate` scenario's peer: a bare Fastify route, the ceiling for any route. Env: PORT, HOST. */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/bare', async () => ({ ok: true }))
app.get('/healthz', async () => ({ status: 'ok' }))
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
// Exit on SIGINT (not die of it), so a profiled run (BENCH_NODE_ARGS=--cpu-prof) writes its profile.
process.once('SIGINT', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
