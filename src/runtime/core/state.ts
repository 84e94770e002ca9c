/**
 * State descriptors and the state interfaces a user function sees (Flink's ValueState, ListState,
 * MapState, ReducingState). Values must be structured-cloneable (plain objects, arrays, Maps,
 * Sets, Dates, numbers, strings, bigints): they are copied on snapshot and written with the v8
 * serializer. Pure types and descriptors.
 */

export type StateKind = 'value' | 'list' | 'map' | 'reducing'

export abstract class StateDescriptor<T = unknown> {
  abstract readonly kind: StateKind
  constructor(readonly name: string) {
    if (typeof name !== 'string' || name === '') throw new Error('A state descriptor needs a non-empty name')
  }
  /** Phantom member so that descriptors of different value types are distinct to the compiler. */
  declare readonly __value?: T
}

export class ValueStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'value' as const
  constructor(
    name: string,
    readonly defaultValue: T | null = null,
  ) {
    super(name)
  }
}

export class ListStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'list' as const
}

export class MapStateDescriptor<K, V> extends StateDescriptor<[K, V]> {
  readonly kind = 'map' as const
}

export class ReducingStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'reducing' as const
  constructor(
    name: string,
    readonly reduceFunction: (a: T, b: T) => T,
  ) {
    super(name)
  }
}

export interface ValueState<T> {
  /** The value for the current key, or the descriptor's default (null unless given). */
  value(): T | null
  update(value: T | null | undefined): void
  clear(): void
}

export interface ListState<T> {
  get(): T[]
  add(value: T): void
  addAll(values: Iterable<T>): void
  update(values: Iterable<T>): void
  clear(): void
}

export interface MapState<K, V> {
  get(key: K): V | undefined
  put(key: K, value: V): void
  putAll(entries: Iterable<[K, V]> | Map<K, V>): void
  remove(key: K): void
  contains(key: K): boolean
  entries(): IterableIterator<[K, V]>
  keys(): IterableIterator<K>
  values(): IterableIterator<V>
  isEmpty(): boolean
  clear(): void
}

export interface ReducingState<T> {
  get(): T | null
  add(value: T): void
  clear(): void
}

/** Keyed state access, as in Flink's KeyedStateStore. */
export interface KeyedStateStore {
  getState<T>(d: ValueStateDescriptor<T>): ValueState<T>
  getListState<T>(d: ListStateDescriptor<T>): ListState<T>
  getMapState<K, V>(d: MapStateDescriptor<K, V>): MapState<K, V>
  getReducingState<T>(d: ReducingStateDescriptor<T>): ReducingState<T>
}

/** Operator (non-keyed) state, as in Flink's OperatorStateStore. */
export interface OperatorStateStore {
  /** Even-split redistribution on rescale. */
  getListState<T>(d: ListStateDescriptor<T>): ListState<T>
  /** Every subtask gets the union of all lists on restore. */
  getUnionListState<T>(d: ListStateDescriptor<T>): ListState<T>
}
