// An ordinary HTTP server that knows nothing of peer-cluster: it listens on PORT and answers with
// who it is. Loaded as a side-effect app (no `start` export), which is how existing servers run in
// a peer unchanged.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const name = process.env.PEER_NAME ?? 'standalone';
let hits = 0;

const server = createServer((req, res) => {
  hits += 1;
  if (req.url === '/crash') {
    res.end('bye\n');
    setImmediate(() => process.exit(3));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ name, hits, greeting: process.env.GREETING ?? 'hello' }));
});

server.listen(port, '127.0.0.1', () => console.log(`http-service ${name} listening on ${port}`));
