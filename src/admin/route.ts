import { z } from 'zod';
import type { Services } from '../http/context.js';
import type { ManageDeps } from '../manage/tenants.js';
import type { User } from '../storage/types.js';

/** Who calls the admin API, once their token was checked (admin/auth.ts). */
export interface Operator {
  user: User;
  /** Tenants a scoped operator may manage; null for a global operator. */
  tenants: string[] | null;
}

export interface AdminCall<P, Q, B> {
  services: Services;
  operator: Operator;
  /** Management functions' dependencies, with the operator as the actor of every audit event. */
  deps: ManageDeps;
  params: P;
  query: Q;
  body: B;
}

/**
 * One operation of the admin API. The schemas validate the request (errors name the field) and
 * are what the OpenAPI document is generated from (admin/openapi.ts), so the two cannot drift.
 */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Under /admin/api/v1, OpenAPI style: `/tenants/{tenant}/clients`. A `{tenant}` is access-checked. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** 201 for creations; 204 (no body) when nothing is returned. */
  status: 200 | 201 | 204;
  response?: z.ZodType;
  /** Only global operators (creating or deleting tenants; the admin tenant itself is checked by `{tenant}`). */
  globalOnly?: boolean;
  handler(call: AdminCall<any, any, any>): Promise<unknown>;
}

/** Declares a route with its handler typed by its schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(def: {
  method: AdminRoute['method'];
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  status?: 200 | 201 | 204;
  response?: z.ZodType;
  globalOnly?: boolean;
  handler(call: AdminCall<P, Q, B>): Promise<unknown>;
}): AdminRoute {
  return { ...def, status: def.status ?? 200 } as AdminRoute;
}
