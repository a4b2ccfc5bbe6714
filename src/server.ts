import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { secretValues, type Settings } from './config.js';
import type { Ledger } from './ledger/ledger.js';
import { LlmService, type AdapterSource } from './llm/llm-service.js';
import { createLogger, logLevelFromEnv, type Logger } from './logger.js';
import { AdapterFactory } from './providers/adapter-factory.js';
import { ModelRegistry } from './registry/registry.js';
import { registerChatTool } from './tools/chat.js';
import { registerChatManyTool } from './tools/chat-many.js';
import type { ChatManyDeps } from './llm/chat-many.js';
import { compactToolListing } from './tools/compact-tool-listing.js';
import { registerGetCostTool } from './tools/get-cost.js';
import { registerListModelsTool } from './tools/list-models.js';
import type { ToolTable } from './tools/tool-table.js';
import { packageVersion } from './version.js';

export interface ServerDeps {
  settings: Settings;
  /** The cost ledger (openLedger(settings.dbPath)); the caller opens and closes it. */
  ledger: Ledger;
  logger?: Logger;
  adapters?: AdapterSource;
  now?: () => number;
  /** Longest silence of a streamed call before a heartbeat notice; default 10 s (tests shorten it). */
  heartbeatMs?: number;
}

/** An McpServer and the table of the tools registered on it. */
export interface ToolServer {
  server: McpServer;
  tools: ToolTable;
}

export interface CreatedServer {
  server: McpServer;
  /**
   * Another MCP server over the same service, ledger and drain, with its tools by name: a
   * stateless HTTP transport connects a fresh one per request (an McpServer serves one transport
   * at a time), and its shared path calls the tools from the table directly.
   */
  mcpServer: () => ToolServer;
  service: LlmService;
  ledger: Ledger;
  /**
   * Stops taking calls, lets the calls in flight finish for up to `drainMs` (default 0: cancel at
   * once), records every call and settles its budget hold, then closes the MCP server (and the
   * ledger when createServer opened it). Any transport's shutdown goes through here.
   */
  close: (options?: { drainMs?: number }) => Promise<void>;
}

// One JSON Schema validator for every McpServer of the process. Without it each McpServer builds
// its own Ajv instance with formats, ~2 ms of CPU, and the stateless HTTP gateway builds a server per
// POST (see the Portkey comparison in BENCHMARKS.md). It holds no per-client state: Ajv caches only
// schemas that carry an $id, and our server compiles none (the SDK uses it for elicitation only).
const sharedValidator = new AjvJsonSchemaValidator();

/** An MCP server with our tools over `service`, and the table of those tools. */
function mcpServerFor(service: LlmService, logger: Logger, many: ChatManyDeps): ToolServer {
  const server = new McpServer({ name: 'llm-service-mcp', version: packageVersion() }, { capabilities: { tools: {} }, jsonSchemaValidator: sharedValidator });
  const tools: ToolTable = new Map([
    registerChatTool(server, service, logger),
    registerChatManyTool(server, many, logger),
    registerListModelsTool(server, service, logger),
    registerGetCostTool(server, service, logger),
  ]);
  compactToolListing(server);
  return { server, tools };
}

/** Builds the MCP server and everything behind it; knows nothing of the transport. */
export function createServer(deps: ServerDeps): CreatedServer {
  const { settings } = deps;
  const secrets = secretValues(settings);
  const logger = deps.logger ?? createLogger({ secrets, level: logLevelFromEnv(settings.env).level });
  const ledger = deps.ledger;
  const registry = new ModelRegistry(settings.models, settings.providers, settings.aliases);
  const service = new LlmService({
    settings,
    registry,
    adapters: deps.adapters ?? new AdapterFactory(settings.env, logger, settings.maxAnswerBytes),
    ledger,
    secrets,
    now: deps.now,
    logger,
    heartbeatMs: deps.heartbeatMs,
  });
  const many: ChatManyDeps = { service, ledger, settings, logger, now: deps.now };
  const { server } = mcpServerFor(service, logger, many);
  return {
    server,
    mcpServer: () => mcpServerFor(service, logger, many),
    service,
    ledger,
    close: async (options = {}) => {
      await service.drain(options.drainMs ?? 0);
      // The last results are on their way out through the transport: let them be written first.
      await new Promise((resolve) => setImmediate(resolve));
      await server.close();
    },
  };
}
