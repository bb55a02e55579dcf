// Where webhooks may go: the operator's allowlist (`webhookAllow`: IP addresses, CIDRs, host
// names, `*.example.com`). Default: loopback only. Attack it stops: a submitter turning cylo's
// callbacks into requests to the operator's internal network or cloud metadata service (SSRF,
// the family of Judge0 CVE-2024-29021).
//
// Rules, for a URL's host:
// - an IP literal must lie in an allowed CIDR;
// - a name listed (exactly, or under a `*.` entry) is allowed, but every address it resolves to
//   must still be public (not loopback, private, link-local, CGNAT, multicast, reserved) unless
//   an allowed CIDR covers it: DNS can point a listed name at 169.254.169.254;
// - any other name is allowed only when every address it resolves to lies in an allowed CIDR.
// The check runs at submit time and again at delivery on the addresses actually connected to.
import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { CyloError } from '../errors.js';

export const DEFAULT_WEBHOOK_ALLOW: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** Ranges a listed host name may never resolve into unless a CIDR entry allows it. */
const NON_PUBLIC: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 3, 'ipv4'],
  ['::', 127, 'ipv6'], ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'], ['64:ff9b::', 96, 'ipv6'],
];

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address (A and AAAA). Replaceable in tests. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** `::ffff:10.0.0.1` is 10.0.0.1: compare mapped addresses as IPv4. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1] !== undefined) return { address: mapped[1], type: 'ipv4' };
  return { address: a, type: isIP(a) === 6 ? 'ipv6' : 'ipv4' };
}

function notAllowed(message: string): CyloError {
  return new CyloError('CYLO_E_CALLBACK_NOT_ALLOWED', `callbackUrl: ${message}`, { field: 'callbackUrl' });
}

export class WebhookAllowList {
  private readonly cidrs = new BlockList();
  private readonly nonPublic = new BlockList();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  /** Throws CYLO_E_CONFIG naming the entry that is neither an address, a CIDR nor a host name. */
  constructor(readonly entries: readonly string[] = DEFAULT_WEBHOOK_ALLOW) {
    for (const [net, prefix, type] of NON_PUBLIC) this.nonPublic.addSubnet(net, prefix, type);
    for (const raw of entries) this.add(raw.trim().toLowerCase());
  }

  private add(entry: string): void {
    const bad = (): CyloError => new CyloError('CYLO_E_CONFIG', `webhookAllow: "${entry}" is not an IP address, a CIDR (10.1.2.0/24), a host name or *.domain`, { field: 'webhookAllow' });
    const [net, prefixText, extra] = entry.split('/');
    if (net !== undefined && isIP(normalise(net).address) !== 0 && extra === undefined) {
      const { address, type } = normalise(net);
      const max = type === 'ipv4' ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) throw bad();
      this.cidrs.addSubnet(address, prefix, type);
    } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) {
      this.suffixes.push(entry.slice(1));
    } else if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(entry)) {
      this.names.add(entry);
    } else {
      throw bad();
    }
  }

  private nameListed(host: string): boolean {
    return this.names.has(host) || this.suffixes.some((s) => host.endsWith(s));
  }

  /** Is this address one a webhook may connect to, for this host? */
  addressAllowed(host: string, address: string): boolean {
    const a = normalise(address);
    if (this.cidrs.check(a.address, a.type)) return true;
    return this.nameListed(host) && !this.nonPublic.check(a.address, a.type);
  }

  /**
   * Checks a callback URL's shape (http/https, no credentials) and its host against the list,
   * resolving a name; returns the URL. At delivery, `checkAddresses` runs again on the addresses
   * resolved then. Throws CYLO_E_CALLBACK_NOT_ALLOWED naming callbackUrl.
   */
  async checkUrl(text: string, resolver: Resolver = systemResolver): Promise<URL> {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw notAllowed(`"${text.slice(0, 200)}" is not an absolute URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw notAllowed(`only http and https are allowed (got ${url.protocol})`);
    if (url.username !== '' || url.password !== '') throw notAllowed('must not carry credentials (user:password@); authenticate the webhook by its X-Cylo-Signature');
    await this.resolveChecked(url.hostname, resolver);
    return url;
  }

  /** Every address of `host` (itself when an IP literal), each checked; throws when any is not
   *  allowed or the name does not resolve. The first one is what a delivery connects to. */
  async resolveChecked(hostname: string, resolver: Resolver = systemResolver): Promise<ResolvedAddress[]> {
    const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const addresses: ResolvedAddress[] = isIP(host) !== 0 ? [{ address: host, family: isIP(host) === 6 ? 6 : 4 }] : await resolveOrRefuse(host, resolver);
    if (addresses.length === 0) throw notAllowed(`${host} does not resolve to any address`);
    for (const { address } of addresses) {
      if (!this.addressAllowed(host, address)) {
        throw notAllowed(`${host}${address === host ? '' : ` (resolves to ${address})`} is not in this server's webhookAllow list (${this.entries.join(', ') || 'empty'}); the operator can add it`);
      }
    }
    return addresses;
  }
}

async function resolveOrRefuse(host: string, resolver: Resolver): Promise<ResolvedAddress[]> {
  try {
    return await resolver(host);
  } catch (error) {
    throw notAllowed(`${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
