export { DEMO_FILE, DEMO_SCENARIO_YAML, DEMO_SNP_SCENARIO_YAML } from './demo.js';
export {
  diagnostic,
  formatDiagnostic,
  formatPath,
  type Result,
  type ScenarioDiagnostic,
  type SourcePos,
} from './diagnostic.js';
export {
  type ExpectEvent,
  emptyCounts,
  type ResultEvent,
  type RunCounts,
  type RunEvent,
  type ScenarioEvent,
  type StepEvent,
  type SummaryEvent,
  summaryEvent,
} from './events.js';
export {
  SCENARIO_SCHEMA_FILE,
  scenarioJsonSchema,
  scenarioJsonSchemaText,
} from './json-schema.js';
export {
  type Loaded,
  loadScenarioText,
  MAX_NESTING,
  MAX_SCENARIO_TEXT,
  MAX_VALUES,
  type SourceMap,
} from './load.js';
export { NUMBER_PATTERN, u64Schema, uintSchema } from './numbers.js';
export { parseScenario } from './parse.js';
export {
  MAX_TOUCH_SIZE,
  type PlannedStep,
  type PlanOptions,
  planRun,
  type RunPlan,
  unsupportedReason,
} from './plan.js';
export { argsJson, type RunOptions, type RunOutcome, runPlan } from './runner.js';
export {
  type CheckArgs,
  type ExitExpect,
  type Expect,
  type GuestMemfdBinding,
  type OpArgsMap,
  type Range,
  type Scenario,
  type Step,
  type StepOp,
  stepVcpu,
  type VmConfig,
} from './scenario.js';
export {
  CHECK_ROOTS,
  type CheckRoot,
  ERRNO_NAMES,
  type ErrnoName,
  EXIT_REASONS,
  type ExitReasonName,
  expectSchema,
  FIELDLESS_OPS,
  GUEST_OPS,
  type GuestOpName,
  HOST_OPS,
  type HostOpName,
  isGuestOp,
  isOpName,
  MEMSLOT_FLAGS,
  OP_BODIES,
  OP_NAMES,
  type OpName,
  STEP_KEYS,
  STEP_SCHEMAS,
  scenarioFileSchema,
  topSchema,
  vmSchema,
} from './schema.js';
export type { SeamcallStatus } from './seamcall.js';
export {
  prepareScenario,
  runScenarios,
  type ScenarioSource,
  type SessionOptions,
  type SessionResult,
} from './session.js';
export {
  MAX_AUTO_EXITS,
  StepExecutor,
  type StepExecutorOptions,
  type StepResult,
  touchedRange,
  type VmSetupFailure,
} from './step-executor.js';
export { formatEvent, formatSummary, PLAIN_STYLE, type TraceStyle } from './trace.js';
