export { type AdversarialInput, adversarialScenario, aliasBomb } from './adversarial.js';
export { StepExecutor, type StepOutcome, stepOutcome } from './executor.js';
export {
  type ExploreOptions,
  type ExploreReport,
  explore,
  type FoundViolation,
  MODEL_CRASH,
  runSequence,
  type SequenceResult,
  shrinkSteps,
} from './explore.js';
export {
  decodeStep,
  EXPLORE_PAGES,
  EXPLORE_VCPUS,
  EXPLORE_WINDOW,
  exploreVmConfig,
  exploreVmTypes,
  hasPrivateMemory,
  prologue,
  STEP_CODE_LIMIT,
} from './generate.js';
export { INJECTIONS, type Injection, injectionByName } from './injections.js';
export { expectBody, type RecordedStep, type ReproFile, reproYaml, stepBody } from './repro.js';
export {
  restore,
  SNAPSHOT_FORMAT,
  type Snapshot,
  SnapshotError,
  snapshot,
  snapshotFromJson,
  snapshotToJson,
} from './snapshot.js';
