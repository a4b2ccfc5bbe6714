#!/usr/bin/env node
/**
 * The floor any MCP stdio server pays, for comparison with ours: the same MCP SDK server and
 * stdio transport, but no registry, retry, adapter or ledger.
 *
 *   noop   answers at once ("pong"): the stdio JSON-RPC + SDK cost alone
 *   proxy  sends the prompt straight to OPENAI_BASE_URL with the official `openai` SDK
 *          (maxRetries 0) and returns its text: an MCP server doing nothing but the call
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'bench-noop', version: '0.0.0' }, { capabilities: { tools: {} } });
const input = { prompt: z.string().optional() };

server.registerTool('noop', { description: 'Answers pong.', inputSchema: input }, async () => ({
  content: [{ type: 'text', text: 'pong' }],
}));

let client;
server.registerTool('proxy', { description: 'One OpenAI chat call, nothing else.', inputSchema: input }, async (args) => {
  if (!client) {
    const { default: OpenAI } = await import('openai');
    client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY, baseURL: process.env.OPENAI_BASE_URL, maxRetries: 0 });
  }
  const completion = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: args.prompt ?? '' }],
  });
  return { content: [{ type: 'text', text: completion.choices[0]?.message?.content ?? '' }] };
});

await server.connect(new StdioServerTransport());
process.stdin.on('end', () => process.exit(0));
