// The default VitePress theme plus the interactive components that run @kvmx/* in the browser.
import type { Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import AddressDecoder from './components/AddressDecoder.vue';
import CliStatus from './components/CliStatus.vue';
import SeedTable from './components/SeedTable.vue';
import './custom.css';

const theme: Theme = {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('AddressDecoder', AddressDecoder);
    app.component('SeedTable', SeedTable);
    app.component('CliStatus', CliStatus);
  },
};

export default theme;
