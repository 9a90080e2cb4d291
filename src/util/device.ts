// The device-string grammar (`cpu`, `cuda`, `cuda:N`), in one place for the engine's check, the config schema and
// the command line; group 1 is the type, group 2 the index.
export const DEVICE_PATTERN = /^(cpu|cuda)(?::(\d+))?$/;
