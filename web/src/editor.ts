// The code editor: CodeMirror 6 with the language's syntax mode, a light or dark theme that
// follows the system (prefers-color-scheme), Tab to indent (Esc then Tab leaves the editor,
// CodeMirror's standard escape from its tab trap), and Ctrl/Cmd+Enter to run. Its generated
// <style> element carries the page's CSP nonce (from the meta tag the server fills in).
import { indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState } from '@codemirror/state';
import { oneDark } from '@codemirror/theme-one-dark';
import { EditorView, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { languageMode } from './languages.js';

export interface Editor {
  text(): string;
  setText(text: string): void;
  /** Switches the syntax mode (loaded on demand; the last one asked for wins). */
  setLanguage(id: string): Promise<void>;
}

function cspNonce(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="cylo-csp-nonce"]')?.content ?? '';
}

/** Mounts the editor in `parent`; `label` is its accessible name; `onRun` runs the program. */
export function createEditor(parent: HTMLElement, label: string, describedBy: string, onRun: () => void): Editor {
  const language = new Compartment();
  const theme = new Compartment();
  const dark = window.matchMedia('(prefers-color-scheme: dark)');
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        keymap.of([
          { key: 'Mod-Enter', run: () => (onRun(), true), preventDefault: true },
          indentWithTab,
        ]),
        basicSetup,
        language.of([]),
        theme.of(dark.matches ? oneDark : []),
        EditorView.cspNonce.of(cspNonce()),
        EditorView.contentAttributes.of({ 'aria-label': label, 'aria-describedby': describedBy }),
      ],
    }),
  });
  let wanted = '';
  dark.addEventListener('change', () => view.dispatch({ effects: theme.reconfigure(dark.matches ? oneDark : []) }));
  return {
    text: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setLanguage: async (id) => {
      wanted = id;
      const mode = await languageMode(id);
      if (wanted === id) view.dispatch({ effects: language.reconfigure(mode) });
    },
  };
}
