// Text that came from the network, made safe for a log line.

/**
 * Control characters (newlines, terminal escapes) escaped, so that text from a connection that has
 * proven nothing cannot forge log lines or restyle a terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
