// Test support for builds with network (test/environments/build-network*.test.ts).
import { slirp4netnsPath } from '../../src/sandbox/build-network.js';

/** Why builds with network cannot be tested here (slirp4netns missing or unusable), or undefined. */
export function slirpSkipReason(): string | undefined {
  try {
    slirp4netnsPath();
    return undefined;
  } catch (error) {
    return `slirp4netns is not installed (scripts/setup.sh installs it): ${(error as Error).message.slice(0, 120)}`;
  }
}
