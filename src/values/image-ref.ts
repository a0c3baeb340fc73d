import { invalidInput } from '../errors.js';
import { printable } from './names.js';

// The grammar of github.com/distribution/reference (without IPv6 registry hosts).
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}';
const REFERENCE = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);

/** Checks an image reference such as `berth-vm:latest` or `registry:5000/team/vm@sha256:…`. */
export function checkImageRef(input: string): string {
  const text = input.trim();
  if (text.length === 0 || text.length > 255 || !REFERENCE.test(text)) {
    throw invalidInput(
      'INVALID_IMAGE',
      `"${printable(text)}" is not a valid image reference.`,
      'Use a Docker image name such as berth-vm:latest or registry.example.com/team/vm:1.2.',
    );
  }
  return text;
}
