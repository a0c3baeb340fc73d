import { useReducer } from 'react';
import { applyView, initialView, type UiState, type ViewChange, type ViewState } from '../view.js';

/** Where the operator is (tab, selection, sort, filter, what is open over the list), changed only through `ViewChange`s. */
export function useView(initial?: Partial<UiState>): [ViewState, (change: ViewChange) => void] {
  return useReducer(applyView, initial, initialView);
}
