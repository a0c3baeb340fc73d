import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { connectDocker, engineVersion } from '../../src/docker/engine.js';
import { BerthError } from '../../src/errors.js';

describe('the Docker engine', () => {
  it('answers through dockerode', async () => {
    const { version, apiVersion } = await engineVersion(connectDocker());
    expect(version).toMatch(/^\d+\.\d+/);
    expect(apiVersion).toMatch(/^1\.\d+$/);
  });

  it('is reported clearly when it is not there', async () => {
    const nowhere = new Docker({ socketPath: '/nonexistent/docker.sock' });
    const err = await engineVersion(nowhere).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('DOCKER_UNREACHABLE');
    expect((err as BerthError).hint).toMatch(/dockerd|systemctl/);
  });
});
