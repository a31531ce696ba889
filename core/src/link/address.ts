// Node addresses as strategies give them (`name@host:port` or `host:port`) and node ids
// (`name@host:port`). A node is found by host:port; the name is confirmed in the handshake.

import { InvalidOptionsError } from '../errors.js';

export interface ParsedAddress {
  name?: string;
  host: string;
  port: number;
}

const NAME = /^[^@\s/]+$/;

/** Parse `name@host:port` or `host:port` (IPv6 hosts in brackets: `name@[::1]:4000`). */
export function parseAddress(address: string, option = 'address'): ParsedAddress {
  if (typeof address !== 'string' || address.length === 0 || address.length > 512) {
    throw new InvalidOptionsError(option, address, 'expected "name@host:port" or "host:port"');
  }
  // No part of an address holds whitespace: two entries on one line, most likely. Said as such,
  // not as what the parse below would trip on (a port, or IPv6 brackets).
  if (/\s/.test(address)) {
    throw new InvalidOptionsError(
      option,
      address,
      'holds whitespace: give each "name@host:port" or "host:port" as an entry of its own (in a hosts file, one per line)',
    );
  }
  const at = address.indexOf('@');
  const name = at === -1 ? undefined : address.slice(0, at);
  const hostPort = at === -1 ? address : address.slice(at + 1);
  if (name !== undefined && !NAME.test(name)) {
    throw new InvalidOptionsError(
      option,
      address,
      'the node name before "@" must be non-empty, without spaces, "@" or "/"',
    );
  }
  // Nor does a host or port hold a comma or a semicolon: entries run together too.
  const separator = /[,;]/.exec(hostPort);
  if (separator) {
    throw new InvalidOptionsError(
      option,
      address,
      `holds "${separator[0]}": give each "name@host:port" or "host:port" as an entry of its own (in a hosts file, one per line)`,
    );
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon === -1)
    throw new InvalidOptionsError(
      option,
      address,
      'missing ":port"',
      'Write it as "name@host:port" or "host:port".',
    );
  if (colon === 0)
    throw new InvalidOptionsError(
      option,
      address,
      'missing the host before ":port"',
      'Write it as "name@host:port" or "host:port".',
    );
  let host = hostPort.slice(0, colon);
  const portText = hostPort.slice(colon + 1);
  const bracketed = host.startsWith('[') && host.endsWith(']');
  if (bracketed) host = host.slice(1, -1);
  else if (host.includes(':'))
    // `::1:4000` could be [::1]:4000 or [::1:4000] without a port: IPv6 needs its brackets.
    throw new InvalidOptionsError(
      option,
      address,
      'an IPv6 address must be in brackets',
      'Write it as "[::1]:4000" (or "name@[::1]:4000").',
    );
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    throw new InvalidOptionsError(option, address, `"${portText}" is not a port (1-65535)`);
  }
  if (host.length === 0 || /[\s/@[\]]/.test(host)) {
    throw new InvalidOptionsError(option, address, `"${host}" is not a host name or IP address`);
  }
  return name === undefined ? { host, port } : { name, host, port };
}

export function isValidNodeName(name: string): boolean {
  return NAME.test(name);
}

/** The id of a node: `name@host:port`. */
export function formatId(name: string, host: string, port: number): string {
  return `${name}@${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The key two addresses of one listener share, whatever name they carry. */
export function endpointKey(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function endpointOf(address: string): string {
  const { host, port } = parseAddress(address);
  return endpointKey(host, port);
}

export function nameOf(id: string): string {
  return id.slice(0, id.indexOf('@'));
}
