import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerRuntime, engineAddress } from '../../src/docker/runtime.js';
import { BerthError } from '../../src/errors.js';

describe('the Docker engine', () => {
  it('answers through dockerode', async () => {
    const runtime = await DockerRuntime.open();
    const { version, apiVersion } = await runtime.version();
    expect(version).toMatch(/^\d+\.\d+/);
    expect(apiVersion).toMatch(/^1\.\d+$/);
  });

  it('is reported clearly when it is not there', async () => {
    const nowhere = DockerRuntime.wrap(new Docker({ socketPath: '/nonexistent/docker.sock' }), 'unix:///nonexistent/docker.sock');
    const err = await nowhere.version().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('DOCKER_UNREACHABLE');
    expect((err as BerthError).message).toContain('unix:///nonexistent/docker.sock');
    expect((err as BerthError).hint).toMatch(/dockerd|systemctl/);
  });

  it('is found through DOCKER_HOST first, then config docker.host, then the local socket', () => {
    expect(engineAddress('tcp://10.0.0.1:2375', { DOCKER_HOST: 'unix:///run/other.sock' })).toBe('unix:///run/other.sock');
    expect(engineAddress('tcp://10.0.0.1:2375', {})).toBe('tcp://10.0.0.1:2375');
    expect(engineAddress('', {})).toBe('unix:///var/run/docker.sock');
  });
});
