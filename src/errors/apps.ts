/** Errors of users' apps: deploys, builds, sources, and the HTTP API's tokens. */
export const APPS_ERRORS = {
  INVALID_APP_NAME: 'An app name is 1–32 characters: a lowercase letter, then lowercase letters, digits or "-".',
  APP_NOT_FOUND: 'There is no app of that name for that user: list them with `berth app list` (or /apps in chat).',
  APP_EXISTS: 'The user already has an app of that name: deploy again with --replace, or choose another name.',
  APP_LIMIT:
    "The user's plan allows no more apps: remove one (`berth app remove`), or give the user a plan with more (`berth plan set PLAN --apps N`).",
  APP_BUSY: 'The app is being built or changed right now: wait for that to finish and try again.',
  INVALID_APP_SOURCE:
    'The deploy names no usable source, or more than one: give exactly one of files, an archive, --from-vm, --git or --image.',
  INVALID_ENV:
    'A variable is not NAME=value with a usable name (letters, digits, _), or is one berth sets itself: fix it and deploy again.',
  INVALID_ENTRYPOINT:
    'The entrypoint is not a file inside the app (a relative path such as bot.py or src/main.js): fix it and deploy again.',
  ENTRYPOINT_MISSING:
    'The app has no file of the entrypoint, and none of the usual ones (main.py, bot.py, app.py, index.js, package.json start): name one with --entrypoint.',
  RUNTIME_UNKNOWN: 'berth could not tell whether the code is Python or Node.js: say which with --runtime python|node.',
  APP_BASE_MISSING:
    'The image apps are built on is not on the engine: build it with `berth app base` (it needs the local base image of scripts/base-images.sh bookworm).',
  APP_BUILD_FAILED:
    "The app's build failed: its last lines say why (a requirement that does not exist, a package index that cannot be reached); fix it and deploy again.",
  APP_BUILD_TIMEOUT:
    "The app's build ran past apps.build-timeout and was killed: make it lighter, or raise the limit (`berth config set apps.build-timeout 20m`).",
  IMAGE_NOT_ALLOWED:
    'The operator does not allow that image for apps: use one of apps.images (berth config get apps.images), or deploy code instead.',
  IMAGE_LOAD_FAILED:
    'The uploaded image archive is not a `docker save` of one image, is too large, or the engine refused it: check it with docker load on your machine.',
  IMAGE_UPLOAD_OFF: 'The operator turned off image uploads (apps.max-image-upload off): deploy code, or an image from apps.images.',
  INVALID_GIT_SOURCE:
    'The git source is not an https URL without a password in it, or the branch name is not usable: fix it and deploy again.',
  DOCKERFILE_UNAVAILABLE:
    "Dockerfile builds are off: berth builds a user's Dockerfile only where the operator turns on apps.dockerfile and a builder as strict as a VM can run.",
  APP_SECRET_MISSING:
    'The app uses a secret the user has not set: set it (/setkey NAME VALUE in chat, or `berth user secret set LOGIN NAME`), then start the app again.',
  APP_NOT_RUNNING: 'The app is not running: start it (`berth app start`, or /app NAME in chat).',
  APPS_NOT_ON_SWARM: 'Apps are placed on one engine only for now: with config engine swarm they cannot be deployed yet.',
  USER_HAS_APPS: 'The user still has apps: remove them first (`berth app list USER`, then `berth app remove USER/NAME`).',
  TOKEN_INVALID: 'The API token is missing, malformed, revoked or of a user without access: make a new one with /token in chat.',
  TOKEN_NOT_FOUND: 'The user has no API token with that id: list them with `berth user token list LOGIN` (or /tokens in chat).',
  TOKEN_LIMIT: 'The user has as many API tokens as berth keeps: revoke one first (/tokens, or `berth user token revoke`).',
  API_DISABLED: 'The HTTP API is turned off on this host: the operator can turn it on (`berth config set web.api on`).',
  API_NOT_FOUND: 'The HTTP API has no such route: see GET /api/v1/openapi.json for the routes it has.',
  API_BAD_REQUEST:
    'The API request is malformed (a body that is not JSON or multipart, an unknown field, a bad value): fix it as the message says (docs/apps-api.md).',
  API_RATE_LIMIT:
    'The token made more requests (web.api-rate a minute), or its user more deploys (web.api-deploy-rate an hour), than berth allows: wait as Retry-After says.',
  API_AUTH_RATE:
    'Too many API requests without a valid token came from this address (web.api-auth-failures a minute): wait as Retry-After says, and check the token.',
  TOKEN_NAME_INVALID: 'An API token name is one line of at most 40 characters, without control characters: choose another.',
} as const;
