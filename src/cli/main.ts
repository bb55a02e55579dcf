#!/usr/bin/env node
// The `cylo` command line's entry point (bin/cylo loads it, or the bundle made from it): the
// program itself is assembled in ./program.ts, which the resident cylo (cylo daemon) runs too.
import { main } from './program.js';

await main();
