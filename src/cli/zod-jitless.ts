// Imported (for its effect) before a one-shot command's modules: zod then builds its object
// schemas without their JIT parser (a `new Function` compiled per schema on its first parse, to
// make later parses faster), which costs a process that parses a few requests and exits more
// than it saves. zod reads the setting when each object schema is created, so this must run
// before any cylo module that defines a schema is evaluated. A module of its own (not
// `(await import('zod')).config`) so that the CLI bundle still tree-shakes zod (its 64 locales).
import { config } from 'zod';

config({ jitless: true });
