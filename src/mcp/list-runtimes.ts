// The list_runtimes tool of the cylo MCP server: the languages run_code accepts here, with their
// versions and aliases, and those cylo knows but that are not installed.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { availableRuntimes, listRuntimesOutputShape, type ToolContext } from './schemas.js';

export function registerListRuntimes(server: McpServer, context: ToolContext): void {
  server.registerTool(
    'list_runtimes',
    {
      title: 'List the languages cylo can run',
      description: 'Lists the languages run_code accepts on this server, with their versions and aliases, and the named environments (packages) each offers.',
      outputSchema: listRuntimesOutputShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (): CallToolResult => listRuntimes(context),
  );
}

function listRuntimes(context: ToolContext): CallToolResult {
  const runtimes = availableRuntimes(context).map((r) => ({ language: r.language, version: r.version, aliases: r.aliases, compiled: r.compiled, environments: r.environments.map((e) => ({ name: e.name, packages: e.packages })) }));
  const missing = context.runtimes.filter((r) => !r.available).map((r) => r.language);
  const lines = runtimes.map((r) => `${r.language} ${r.version ?? '(unknown version)'}${r.aliases.length > 0 ? ` (aliases: ${r.aliases.join(', ')})` : ''}${r.compiled ? ', compiled' : ''}${r.environments.length > 0 ? `; environments: ${r.environments.map((e) => `${e.name} (${e.packages.map((p) => `${p.name} ${p.version}`).join(', ')})`).join('; ')}` : ''}`);
  if (lines.length === 0) lines.push('No language is available on this server.');
  if (missing.length > 0) lines.push(`Known but not installed here: ${missing.join(', ')}.`);
  lines.push('Pass the language id (the first word) as run_code.language.');
  return { content: [{ type: 'text', text: lines.join('\n') }], structuredContent: { runtimes } };
}
