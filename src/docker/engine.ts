import Docker from 'dockerode';
import { BerthError } from '../errors.js';

/** A client for the engine named by DOCKER_HOST (docker-modem reads it), else the local socket. */
export function connectDocker(): Docker {
  return new Docker();
}

export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

/** The engine's version, or a clear error saying where berth looked and how to start one. */
export async function engineVersion(docker: Docker = connectDocker()): Promise<{ version: string; apiVersion: string }> {
  try {
    const info = await docker.version();
    return { version: info.Version, apiVersion: info.ApiVersion };
  } catch (err) {
    throw new BerthError(
      'DOCKER_UNREACHABLE',
      `No Docker engine answers at ${engineAddress()} (${(err as Error).message}).`,
      'Start it (sudo systemctl start docker, or dockerd &), or point DOCKER_HOST at a running engine.',
    );
  }
}
