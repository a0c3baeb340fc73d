/** Errors of VM images: templates, builds, and the pinned packages some templates fetch. */
export const IMAGES_ERRORS = {
  INVALID_IMAGE: 'That is not a Docker image reference: use a name such as berth-vm:latest or registry.example.com/team/vm:1.2.',
  UNKNOWN_TEMPLATE: 'There is no template of that name: the hint lists the templates (the folders of templates/).',
  IMAGE_NOT_FOUND: 'The VM image is not on the Docker engine: build it first (`berth image build`, with --template when named).',
  NOT_A_BERTH_IMAGE: 'The image was not built from a berth template: build VM images with `berth image build`, or FROM a berth image.',
  IMAGE_BUILD_FAILED:
    'The image build failed (the hint shows its last lines); when the base could not be pulled, make a local one with scripts/base-images.sh.',
  TEMPLATE_INVALID: "A template's packages.json is not a valid package list: fix the file.",
  PACKAGE_FETCH_FAILED:
    'npm could not fetch a package a template pins: the host needs npm and a registry it can reach (npm_config_registry for a mirror).',
  PACKAGE_INTEGRITY:
    'A package from the registry does not match its pinned integrity, so the build stopped: check the registry or mirror in use.',
} as const;
