export {
  FRAME_OWNER_COUNT,
  FrameOwner,
  frameOwnerName,
  isFrameOwner,
} from './frame-owner.js';
export {
  DEFAULT_BASE_PFN,
  DEFAULT_MAX_FRAMES,
  FRAME_SIZE,
  FRAME_WORDS,
  FramePool,
  type FramePoolOptions,
  type FramePoolStats,
  NO_FRAME,
} from './frame-pool.js';
