// The isolations a request can ask for (its `isolation` field; docs/isolation.md):
//   namespaces  the namespace sandbox on the host's kernel (bubblewrap, seccomp, Landlock, cgroups)
//   microvm     its own guest kernel in a QEMU microVM (KVM, or software emulation where allowed)
export const ISOLATIONS = ['namespaces', 'microvm'] as const;
export type Isolation = (typeof ISOLATIONS)[number];
