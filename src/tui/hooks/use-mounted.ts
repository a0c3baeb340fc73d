import { type RefObject, useEffect, useRef } from 'react';

/** Whether the component is still mounted: what comes back after it went is dropped. */
export function useMounted(): RefObject<boolean> {
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  return mounted;
}
