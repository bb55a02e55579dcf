// Asks for the bearer token in a modal <dialog> (focus moves into it, Escape cancels, the
// field is labelled); resolves the token, or undefined when cancelled.

export function askToken(why: string): Promise<string | undefined> {
  const dialog = document.getElementById('token-dialog') as HTMLDialogElement;
  const input = document.getElementById('token') as HTMLInputElement;
  (document.getElementById('token-why') as HTMLElement).textContent = why;
  input.value = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' && input.value.trim() !== '' ? input.value : undefined), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
}
