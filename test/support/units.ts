// Byte units for limits and sizes in tests.
export const MiB = 1024 * 1024;
