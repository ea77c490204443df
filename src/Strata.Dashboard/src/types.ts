// The API's shapes, as far as the dashboard reads them (docs/api.md).

export interface PlacementReason { rule: string; text: string }
export interface RunnerUp { tier: string; viable: boolean; whyNot: string; cost: string }
export interface Fallback { ideal: string; taken: string; why: string }

export interface Placement {
  tier: string;
  chosenBy: string;
  reasons: PlacementReason[];
  fallback?: Fallback;
  runnersUp?: RunnerUp[];
  cost?: string;
}

export interface InstanceInfo {
  id: string;
  name: string;
  project: string;
  tier: string;
  state: string;
  image?: string;
  spec: Record<string, unknown> & { command?: string[]; args?: string[] };
  pid?: number;
  exitCode?: number;
  reason?: string;
  restartCount: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  details?: Record<string, string>;
  placement?: Placement;
}

export interface TierAvailability { tier: string; available: boolean; reason: string; engine?: string }

export interface DaemonInfo {
  version: string;
  root: string;
  store: string;
  tiers: TierAvailability[];
  host: { os: string; kernel: string; arch: string; cpus: number; memoryBytes: number; cgroups: string };
  instances: number;
}

export interface ProjectInfo {
  name: string;
  description?: string;
  createdAt: string;
  quota?: Record<string, number | null>;
  restrictions?: Record<string, unknown>;
  usage?: Record<string, number>;
}

export interface AdviseItem {
  name: string;
  tier?: string;
  chosenBy?: string;
  reasons?: PlacementReason[];
  runnersUp?: RunnerUp[];
  fallback?: Fallback;
  cost?: string;
  problem?: { detail?: string; field?: string };
}

export const tiers = ["process", "container", "sandbox", "vm", "wasm"];
export const states = ["created", "starting", "running", "stopping", "stopped", "exited", "failed"];

export interface ClusterNodeInfo {
  name: string;
  status: string;
  address?: string;
  capacity?: { cpuMillis: number; memoryBytes: number };
  free?: { cpuMillis: number; memoryBytes: number };
  tiers: { tier: string; engine?: string }[];
  arch?: string;
  labels?: Record<string, string>;
  offlineSince?: string;
  instances: number;
  leader: boolean;
}

export interface ClusterStatus {
  node: string;
  leader?: string;
  etcd: string[];
  nodes: ClusterNodeInfo[];
  replacementsFrozen: boolean;
}
