// Test support for builds with network (test/environments/build-network*.test.ts).
import { nftPath, slirp4netnsPath } from '../../src/sandbox/build-network.js';

/** Why builds with network cannot be tested here (slirp4netns or nft missing or unusable), or
 *  undefined. */
export function slirpSkipReason(): string | undefined {
  for (const [tool, check] of [['slirp4netns', slirp4netnsPath], ['nft (nftables)', nftPath]] as const) {
    try {
      check();
    } catch (error) {
      return `${tool} is not installed (scripts/setup.sh installs it): ${(error as Error).message.slice(0, 120)}`;
    }
  }
  return undefined;
}
