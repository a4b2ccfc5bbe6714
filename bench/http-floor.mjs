#!/usr/bin/env node
/**
 * The floors any MCP gateway over Streamable HTTP pays, for comparison with ours in section
 * `http` (the HTTP counterpart of noop-server.mjs). Both relay one `chat`-like tool call to
 * OPENAI_BASE_URL and answer with its text; neither authenticates, records, retries or checks
 * anything.
 *
 *   node bench/http-floor.mjs sdk   the MCP SDK's own stateless server (a fresh McpServer and
 *                                   StreamableHTTPServerTransport per POST, as the SDK's example
 *                                   simpleStatelessStreamableHttp.ts does) whose tool makes the
 *                                   call with the `openai` SDK (maxRetries 0)
 *   node bench/http-floor.mjs raw   no MCP server library at all: node:http, JSON-RPC by hand,
 *                                   one global fetch to the upstream; the least any relay can do
 *
 * Prints `listening on PORT` to stderr; serves POST /mcp on 127.0.0.1 until stdin ends.
 */
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import OpenAI from 'openai';
import { z } from 'zod';

const mode = process.argv[2];
const upstream = process.env.OPENAI_BASE_URL;
const apiKey = process.env.OPENAI_API_KEY;
if ((mode !== 'sdk' && mode !== 'raw') || !upstream) {
  process.stderr.write('usage: OPENAI_BASE_URL=... node bench/http-floor.mjs sdk|raw\n');
  process.exit(2);
}
const request = (prompt) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] });

const readJson = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });

const send = (res, status, body) => {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
};

let handle;
if (mode === 'sdk') {
  const client = new OpenAI({ apiKey, baseURL: upstream, maxRetries: 0 });
  handle = async (req, res, body) => {
    const server = new McpServer({ name: 'bench-http-floor', version: '0.0.0' }, { capabilities: { tools: {} } });
    server.registerTool('chat', { description: 'One OpenAI chat call, nothing else.', inputSchema: { prompt: z.string() } }, async ({ prompt }) => {
      const completion = await client.chat.completions.create(request(prompt));
      return { content: [{ type: 'text', text: completion.choices[0]?.message?.content ?? '' }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
} else {
  handle = async (_req, res, body) => {
    if (body.method === 'initialize') {
      return send(res, 200, { jsonrpc: '2.0', id: body.id, result: { protocolVersion: body.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'bench-http-floor', version: '0.0.0' } } });
    }
    if (body.id === undefined) return send(res, 202);
    const response = await fetch(`${upstream}/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
      body: JSON.stringify(request(body.params?.arguments?.prompt ?? '')),
    });
    const completion = await response.json();
    send(res, 200, { jsonrpc: '2.0', id: body.id, result: { content: [{ type: 'text', text: completion.choices[0]?.message?.content ?? '' }] } });
  };
}

const server = createServer((req, res) => {
  // Stateless: no standalone SSE stream to GET, no session to DELETE.
  if (req.method !== 'POST') return send(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'POST only' }, id: null });
  readJson(req)
    .then((body) => handle(req, res, body))
    .catch((error) => {
      if (!res.headersSent) send(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: String(error?.message ?? error) }, id: null });
    });
});
server.listen(0, '127.0.0.1', () => process.stderr.write(`listening on ${server.address().port}\n`));
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
