// The default VitePress theme plus the interactive components that run @kvmx/* in the browser.
import { defineClientComponent, type Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import AddressDecoder from './components/AddressDecoder.vue';
import CliStatus from './components/CliStatus.vue';
import SeedTable from './components/SeedTable.vue';
import './custom.css';

// The playground and the live page tables carry the whole model (scenario runner, KVM, TDX
// module, zod, yaml): loaded only by the pages that show them.
const ScenarioPlayground = defineClientComponent(
  () => import('./components/ScenarioPlayground.vue'),
);
const LiveTables = defineClientComponent(() => import('./components/LiveTables.vue'));

const theme: Theme = {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('AddressDecoder', AddressDecoder);
    app.component('SeedTable', SeedTable);
    app.component('CliStatus', CliStatus);
    app.component('ScenarioPlayground', ScenarioPlayground);
    app.component('LiveTables', LiveTables);
  },
};

export default theme;
