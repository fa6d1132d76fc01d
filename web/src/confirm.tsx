// A confirmation that names what it is about, in a modal <dialog> (focus kept inside, Escape cancels).

import { useEffect, useRef, useState } from 'preact/hooks';

interface Pending {
  message: string;
  action: string;
  resolve: (confirmed: boolean) => void;
}

export function useConfirm(): [(message: string, action: string) => Promise<boolean>, preact.JSX.Element] {
  const [pending, setPending] = useState<Pending | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (pending && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [pending]);
  const finish = (confirmed: boolean) => {
    pending?.resolve(confirmed);
    setPending(null);
    dialog.current?.close();
  };
  const ask = (message: string, action: string) => new Promise<boolean>((resolve) => setPending({ message, action, resolve }));
  const element = (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-message" onCancel={() => finish(false)}>
      <p id="confirm-message">{pending?.message}</p>
      <div class="row">
        <button type="button" onClick={() => finish(false)} autofocus>Cancel</button>
        <button type="button" class="danger" onClick={() => finish(true)}>{pending?.action ?? 'OK'}</button>
      </div>
    </dialog>
  );
  return [ask, element];
}
