/**
 * Whether an element is on screen (or within `margin` of it), from an IntersectionObserver.
 * Charts use it to skip redraws nobody can see: on a laptop screen two to four of the lab's
 * charts are in view, and each redraw of the others would only take main-thread time.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export function useOnScreen<T extends Element>(margin = '200px'): [(node: T | null) => void, boolean] {
  // Until the observer has reported, assume visible: nothing is held back by mistake.
  const [visible, setVisible] = useState(true);
  const observer = useRef<IntersectionObserver | null>(null);
  const ref = useCallback((node: T | null) => {
    observer.current?.disconnect();
    observer.current = null;
    if (!node || typeof IntersectionObserver === 'undefined') return;
    observer.current = new IntersectionObserver((entries) => {
      const last = entries[entries.length - 1];
      if (last) setVisible(last.isIntersecting);
    }, { rootMargin: margin });
    observer.current.observe(node);
  }, [margin]);
  useEffect(() => () => observer.current?.disconnect(), []);
  return [ref, visible];
}
