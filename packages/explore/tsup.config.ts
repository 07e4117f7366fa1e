import { defineConfig } from 'tsup';
import { libraryPreset } from '../../tooling/tsup.preset.js';

export default defineConfig(libraryPreset());
